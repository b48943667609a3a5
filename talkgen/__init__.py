"""talkgen: script-to-scene talking-character video and mask-free lip-sync dubbing."""

__version__ = "0.1.0"
