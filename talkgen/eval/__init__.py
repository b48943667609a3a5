"""talkgen.eval."""
