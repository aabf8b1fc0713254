"""The transfer study, in order: fine-tuning module, PGF callback, sweep runner, W&B, demo."""
