"""LIMA-style SFT mixing: pools of instruction data -> filtered, deduplicated, diverse, exact quotas."""
