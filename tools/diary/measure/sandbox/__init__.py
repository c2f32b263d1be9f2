"""sandbox: one run of a program, supervised (timeout, memory, output caps) and isolated by bwrap."""
