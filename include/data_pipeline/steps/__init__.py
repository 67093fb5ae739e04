"""The pipeline steps; ``registry`` declares them, one module implements each."""
