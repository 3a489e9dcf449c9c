"""CX membrane core: configuration, CLI, clocks."""
