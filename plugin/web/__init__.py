"""What every HTTP door shares: the loaded plugin and settings as dependencies."""
