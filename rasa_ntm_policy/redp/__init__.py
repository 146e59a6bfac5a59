"""REDP (Recurrent Embedding Dialogue Policy, arXiv 1811.11707) for Rasa 3 and TensorFlow 2.

Use it in a Rasa config as `- name: rasa_ntm_policy.REDPPolicy`.
"""
