"""PyTorch Lightning modules and callbacks that train the plain-PyTorch models."""
