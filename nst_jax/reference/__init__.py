"""Independent implementations that nst_jax is checked against, imported only when asked for.

    torch_vgg.py   a PyTorch VGG and the paper's losses, written apart from nst_jax's
    keras_vgg.py   Keras' own VGG16/VGG19 with Keras' own preprocessing
    keras_net.py   Keras' own network (ResNet50) as the whole reference, on the torch backend
    torch_resnet.py  a PyTorch ResNet50 (batch norm unfolded), written apart from nst_jax's
    torch_distances.py  distances.py's w2, sliced and meanstd in PyTorch, from their formulas
    compare.py     `python -m nst_jax compare`: features, losses and gradients side by side
    measure.py     how far two arrays are apart; the median time of a call

PyTorch and Keras are the optional extra `compare` (pip install 'nst_jax[compare]').
May import: errors, config, paper, optimizers, io, fast, run.
"""
