"""LoRA supervised fine-tuning of a baseline on Three.js domain text (``specboard train sft``)."""
