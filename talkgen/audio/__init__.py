"""talkgen.audio."""
