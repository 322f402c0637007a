"""One module per command group; each function takes (args, ctx) and returns an exit code."""
