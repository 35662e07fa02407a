"""The paper: the image's arrays, the networks, the objective, the colour. Read beside Gatys et al.

One concept a module, each written from its equations and checked against an independent
reference (NumPy in float64, PyTorch, Keras) in tests/paper/. Nothing here knows which
device runs it, how fast a convolution can be, or how a run is driven (tests/test_layout.py
reads the code and checks): the speed machinery reaches these modules through fast/plan.py.

    image.py      the Caffe preprocessing and its inverse, resizing, 8-bit pixels
    backbones.py  what a network offers the run (layers, weights' shapes, defaults): the registry
    vgg.py        VGG16/VGG19 in Flax, layer by layer (Simonyan & Zisserman 2014)
    resnet.py     ResNet50 in Flax, its batch norms folded (He et al. 2016)
    losses.py     the objective: content, Gram style (Eq. 1-5), TV, guided and blended styles
    distances.py  other style distances: W2 of Gaussians, sliced W2, mean/std (AdaIN's)
    octaves.py    the objective on downsampled copies too: a Gaussian pyramid (Snelgrove 2017)
    color.py      colour preservation: luminance transfer and histogram matching (Gatys 2016)
    normalize.py  Gatys' normalised network: every filter's mean activation rescaled to 1
    temporal.py   video: optical flow, warping, consistency, the temporal loss (Ruder et al. 2016)

A new backbone or style distance goes here. May import: errors.
"""
