"""Model registry, loading (real weights via from_pretrained, or tiny in-process models) and loaded-model types."""
