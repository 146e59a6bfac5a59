"""rasa-ntm-policy: a Rasa 3.6 dialogue policy whose memory is a Neural Turing Machine."""
__version__ = "0.1.0"
