"""talkgen: script-to-scene talking-character video and mask-free lip-sync dubbing."""

__version__ = "0.1.0"
SPEECH_RATE = 16_000  # Hz: the one rate of every speech waveform inside talkgen (models, TTS, dubbing, the world)
