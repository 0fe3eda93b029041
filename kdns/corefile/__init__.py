"""The Corefile: CoreDNS's configuration grammar (lexer, parser, the tree it produces)."""
