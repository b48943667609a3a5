"""talkgen.training."""
