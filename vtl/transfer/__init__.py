"""Task-transfer maths and analysis (no torch imports here)."""
