"""HAQ (Wang et al., CVPR 2019): hardware-aware automated mixed-precision quantization with DDPG."""
