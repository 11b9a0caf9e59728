"""authconsole: the operator console (Textual TUI and command line) over authcore."""
