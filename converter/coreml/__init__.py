"""The Core ML front end: existing NeuralNetwork ``.mlmodel`` files made trainable (see front.py)."""
