"""Live quote providers: one small interface, one module per provider format."""
