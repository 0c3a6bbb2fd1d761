"""The built-in operator catalogue: importing this package registers every operator."""
