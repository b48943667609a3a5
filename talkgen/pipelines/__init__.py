"""talkgen.pipelines."""
