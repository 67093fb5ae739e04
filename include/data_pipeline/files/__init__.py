"""Files of a task directory: safe paths, backup, deletion, the journal, outputs, table lists."""
