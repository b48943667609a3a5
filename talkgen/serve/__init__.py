"""talkgen.serve."""
