"""Model registry. ``build_model(name, num_classes, pretrained=...)``; ``available_models()``."""

from common.models import (
    cifar_resnet,
    inceptionv3_cv,
    mobilenet_v1,
    mobilenet_v1_haq,
    mobilenetv2_cv,
    tiny,
    torchvision_all,
    torchvision_models,
)
from common.models.registry import (
    ModelOptionError,
    ModelSpec,
    UnknownModelError,
    available_models,
    build_model,
    get_spec,
    register_model,
)

tv = torchvision_models
for _spec in (
    ModelSpec(
        "resnet18", tv.resnet18, "torchvision ResNet-18", torchvision_weights="ResNet18_Weights.IMAGENET1K_V1"
    ),
    ModelSpec(
        "resnet50",
        tv.resnet50,
        "torchvision ResNet-50 (v1.5: stride on the 3x3 conv)",
        torchvision_weights="ResNet50_Weights.IMAGENET1K_V1",
    ),
    ModelSpec(
        "resnet101",
        tv.resnet101,
        "torchvision ResNet-101 (v1.5)",
        torchvision_weights="ResNet101_Weights.IMAGENET1K_V1",
    ),
    ModelSpec(
        "resnet50_v1",
        tv.resnet50_v1,
        "ResNet-50 v1 (stride on the first 1x1 conv; pytorchcv/HAWQ-V3 layout, torchvision names)",
        weights_file="pytorchcv/resnet50.pth",
    ),
    ModelSpec(
        "resnet101_v1",
        tv.resnet101_v1,
        "ResNet-101 v1 (stride on the first 1x1 conv; pytorchcv/HAWQ-V3 layout, torchvision names)",
        weights_file="pytorchcv/resnet101.pth",
    ),
    ModelSpec(
        "mobilenet_v2",
        tv.mobilenet_v2,
        "torchvision MobileNetV2 (width 1.0)",
        torchvision_weights="MobileNet_V2_Weights.IMAGENET1K_V1",
        aliases=("mobilenetv2",),
    ),
    ModelSpec(
        "mobilenetv2_w1",
        mobilenetv2_cv.mobilenetv2_w1,
        "MobileNetV2 in pytorchcv's layout (HAWQ-V3)",
        weights_file="pytorchcv/mobilenetv2_w1.pth",
    ),
    ModelSpec(
        "mobilenet_v1",
        mobilenet_v1.mobilenet_v1,
        "MobileNetV1-1.0 in HMQ's layout",
        weights_file="hmq/mobilenet_v1_imagenet.pth",
    ),
    ModelSpec(
        "mobilenet_v1_haq",
        mobilenet_v1_haq.mobilenet_v1_haq,
        "MobileNetV1-1.0 in HAQ's layout (its mobilenet/qmobilenet; ReLU stem, ReLU6 units)",
    ),
    ModelSpec(
        "inception_v3",
        tv.inception_v3,
        "torchvision Inception-V3 without the auxiliary head (299x299)",
        input_size=299,
        torchvision_weights="Inception_V3_Weights.IMAGENET1K_V1",
        aliases=("inceptionv3",),
    ),
    ModelSpec(
        "inceptionv3_cv",
        inceptionv3_cv.inceptionv3_cv,
        "InceptionV3 in pytorchcv's layout (HAWQ-V3; same layers as inception_v3, 299x299)",
        input_size=299,
        weights_file="pytorchcv/inceptionv3.pth",
    ),
    ModelSpec(
        "efficientnet_b0",
        tv.efficientnet_b0,
        "torchvision EfficientNet-B0",
        torchvision_weights="EfficientNet_B0_Weights.IMAGENET1K_V1",
    ),
    ModelSpec(
        "resnet20",
        cifar_resnet.resnet20,
        "CIFAR ResNet-20 (option-A shortcuts, 32x32)",
        input_size=32,
        default_classes=10,
        weights_file="resnet20_cifar10.pth",
    ),
    ModelSpec(
        "tiny_resnet",
        tiny.tiny_resnet,
        "4-stage ResNet at widths 16-128 for the embedded digits data (32x32)",
        input_size=32,
        default_classes=10,
    ),
    ModelSpec(
        "tiny_mobilenet_v2",
        tiny.tiny_mobilenet_v2,
        "torchvision MobileNetV2 at width 0.25 for the embedded digits data (32x32)",
        input_size=32,
        default_classes=10,
    ),
):
    register_model(_spec)
# every other torchvision classification model by its own name (HAQ's --arch takes any of them)
torchvision_all.register_torchvision_models()

__all__ = [
    "ModelOptionError",
    "ModelSpec",
    "UnknownModelError",
    "available_models",
    "build_model",
    "get_spec",
    "register_model",
]
