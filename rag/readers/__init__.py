"""Readers shipped in the package: rag/readers/NAME/ (config.json, model.safetensors in fp16,
tokenizer.json, card.json), found by name (answer.reader). Never their .work folder."""
