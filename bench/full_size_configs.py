"""Architecture configs of the real models, so the benchmark can build them at full size with random weights.

``bench_sds_step.py --random-weights`` builds each model from these dicts, saves it with
``save_pretrained`` and loads it back through the engine's loader: the GPU speed of SDXL / SD 1.5 can
then be measured on a machine that cannot download the weights. Only the architecture matters for
speed, so keys that only affect training or generation defaults are left out.

Where each dict was read (public config.json files and copies of them, found with a code search; the
Hugging Face repos themselves are not in the searchable corpus, so mirrors and verbatim copies were read):

* SDXL base 1.0 ``unet`` / ``vae`` / ``text_encoder`` / ``text_encoder_2`` / ``scheduler``: the
  config.json copies in Guang000/Generative-Dataset-Distillation-Based-on-Diffusion-Model (an SDXL-Turbo
  snapshot: identical architecture, ``sample_size`` 64 there) and Danielfegapeter/Hotshot-XL (SDXL's
  vae, text encoders and EulerDiscreteScheduler), cross-checked against the ``UNET_CONFIG`` of
  ControlNeXt-SDXL (SDXL base unet with ``sample_size`` 128).
* SDXL ControlNets "mid" (diffusers/controlnet-{canny,depth}-sdxl-1.0-mid): their config.json was not
  found. RECONSTRUCTED: ``ControlNetModel.from_unet`` of the SDXL unet (what diffusers' training script
  starts from) with ``transformer_layers_per_block`` [0, 0, 1] and the down blocks that follow from it.
  The depth comes from ComfyUI's ``comfy/model_detection.py`` table ``SDXL_mid_cnet`` (matched against
  the diffusers state dicts: ``transformer_depth`` [0, 0, 0, 0, 1, 1], ``transformer_depth_middle`` 1)
  and from okotaku/diffengine's ``stable_diffusion_xl_controlnet_mid`` config
  (``transformer_layers_per_block=[0, 0, 1]``). Canny and depth "mid" share the architecture.
* SD 1.5 ``unet`` / ``vae`` / ``text_encoder`` / ``scheduler``: HDRJ-One/runwayml-stable-diffusion-v1-5
  (a mirror of runwayml/stable-diffusion-v1-5, which stable-diffusion-v1-5/stable-diffusion-v1-5 copies).
* DPT-hybrid (Intel/dpt-hybrid-midas): transformers' ``convert_dpt_hybrid_to_pytorch.py`` ("midas"
  branch: hidden 768, reassemble factors [1, 1, 1, 0.5], neck [256, 512, 768, 768], patch 16, no batch
  norm in the fusion residual, readout "project") on top of ``DPTConfig``'s hybrid defaults (BiT
  backbone with depths [3, 4, 9], feature map [1, 1024, 24, 24], neck_ignore_stages [0, 1]).
  It runs once per run (the depth map of the photo), never inside a step.
* CLIP ViT-B/16 (openai/clip-vit-base-patch16): the layout of openai/clip-vit-base-patch32's config.json
  (whaler404/Hf-Learn) with patch size 16; widths and depths of ViT-B/16 as in kvmm's ``ClipVitBase16``.
* DINOv2-base (facebook/dinov2-base): transformers' ``convert_dinov2_to_hf.py`` ("vitb":
  ``Dinov2Config(image_size=518, patch_size=14)`` with the base defaults), ImageNet-normalised
  ``BitImageProcessor`` (shortest edge 256, centre crop 224) from the same script.
* TAESD / TAESDXL (madebyollin/taesd, madebyollin/taesdxl, only with ``--tiny-vae``): a printed
  madebyollin/taesd config; TAESDXL has the same architecture.
"""

from __future__ import annotations

from typing import Any

Config = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# SDXL base 1.0

SDXL_UNET: Config = {
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 2048,
    "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 128,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": True,
}

SDXL_VAE: Config = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "force_upcast": True,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

# openai/clip-vit-large-patch14 text tower (also SD 1.5's text encoder).
CLIP_L_TEXT: Config = {
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "vocab_size": 49408,
}
SDXL_TEXT_ENCODER: Config = CLIP_L_TEXT

# laion/CLIP-ViT-bigG-14-laion2B-39B-b160k text tower, with its projection.
SDXL_TEXT_ENCODER_2: Config = {
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 5120,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "pad_token_id": 1,
    "projection_dim": 1280,
    "vocab_size": 49408,
}

SDXL_SCHEDULER: Config = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

# RECONSTRUCTED (see the module docstring): the SDXL unet's encoder half, ControlNet heads, and
# transformer depth [0, 0, 1] (+1 in the mid block) instead of the base model's [1, 2, 10].
SDXL_CONTROLNET_MID: Config = {
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "class_embed_type": None,
    "conditioning_channels": 3,
    "conditioning_embedding_out_channels": [16, 32, 96, 256],
    "controlnet_conditioning_channel_order": "rgb",
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "global_pool_conditions": False,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_time_scale_shift": "default",
    "transformer_layers_per_block": [0, 0, 1],
    "upcast_attention": None,
    "use_linear_projection": True,
}

# ---------------------------------------------------------------------------------------------
# Stable Diffusion 1.5

SD15_UNET: Config = {
    "act_fn": "silu",
    "addition_embed_type": None,
    "addition_embed_type_num_heads": 64,
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 768,
    "cross_attention_norm": None,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": None,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 64,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": False,
}

SD15_VAE: Config = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}

SD15_TEXT_ENCODER: Config = CLIP_L_TEXT

SD15_SCHEDULER: Config = {  # PNDMScheduler; the engine swaps in DDPM on the same betas
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

# ---------------------------------------------------------------------------------------------
# TAESD / TAESDXL (``--tiny-vae``)

TAESD: Config = {
    "act_fn": "relu",
    "decoder_block_out_channels": [64, 64, 64, 64],
    "encoder_block_out_channels": [64, 64, 64, 64],
    "force_upcast": False,
    "in_channels": 3,
    "latent_channels": 4,
    "latent_magnitude": 3,
    "latent_shift": 0.5,
    "num_decoder_blocks": [3, 3, 3, 1],
    "num_encoder_blocks": [1, 3, 3, 3],
    "out_channels": 3,
    "scaling_factor": 1.0,
    "upsample_fn": "nearest",
    "upsampling_scaling_factor": 2,
}

# ---------------------------------------------------------------------------------------------
# Depth estimator for the depth ControlNet (once per run)

DPT_HYBRID_MIDAS: Config = {
    "architectures": ["DPTForDepthEstimation"],
    "backbone_config": {
        "model_type": "bit",
        "global_padding": "same",
        "layer_type": "bottleneck",
        "depths": [3, 4, 9],
        "out_features": ["stage1", "stage2", "stage3"],
        "embedding_dynamic_padding": True,
    },
    "backbone_featmap_shape": [1, 1024, 24, 24],
    "backbone_out_indices": [2, 5, 8, 11],
    "fusion_hidden_size": 256,
    "head_in_index": -1,
    "hidden_act": "gelu",
    "hidden_size": 768,
    "image_size": 384,
    "intermediate_size": 3072,
    "is_hybrid": True,
    "layer_norm_eps": 1e-12,
    "neck_hidden_sizes": [256, 512, 768, 768],
    "neck_ignore_stages": [0, 1],
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "patch_size": 16,
    "qkv_bias": True,
    "readout_type": "project",
    "reassemble_factors": [1, 1, 1, 0.5],
    "use_batch_norm_in_fusion_residual": False,
}
DPT_HYBRID_PROCESSOR: Config = {
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "ensure_multiple_of": 1,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "keep_aspect_ratio": False,
    "resample": 3,
    "size": {"height": 384, "width": 384},
}

# ---------------------------------------------------------------------------------------------
# Semantic encoders of the metrics stage

CLIP_VIT_B16: Config = {
    "logit_scale_init_value": 2.6592,
    "projection_dim": 512,
    "text_config": {
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "hidden_act": "quick_gelu",
        "hidden_size": 512,
        "intermediate_size": 2048,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77,
        "num_attention_heads": 8,
        "num_hidden_layers": 12,
        "pad_token_id": 1,
        "projection_dim": 512,
        "vocab_size": 49408,
    },
    "vision_config": {
        "attention_dropout": 0.0,
        "hidden_act": "quick_gelu",
        "hidden_size": 768,
        "image_size": 224,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-05,
        "num_attention_heads": 12,
        "num_channels": 3,
        "num_hidden_layers": 12,
        "patch_size": 16,
        "projection_dim": 512,
    },
}
CLIP_PROCESSOR: Config = {
    "crop_size": {"height": 224, "width": 224},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": {"shortest_edge": 224},
}

DINOV2_BASE: Config = {
    "attention_probs_dropout_prob": 0.0,
    "drop_path_rate": 0.0,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 768,
    "image_size": 518,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-06,
    "layerscale_value": 1.0,
    "mlp_ratio": 4,
    "num_attention_heads": 12,
    "num_channels": 3,
    "num_hidden_layers": 12,
    "patch_size": 14,
    "qkv_bias": True,
    "use_swiglu_ffn": False,
}
DINOV2_PROCESSOR: Config = {
    "crop_size": {"height": 224, "width": 224},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 256},
}
