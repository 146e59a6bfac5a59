"""rasa-ntm-policy: a Rasa 3.6 dialogue policy whose memory is a Neural Turing Machine.

Use it in a Rasa config as `- name: rasa_ntm_policy.NTMPolicy`; the REDP baseline is
`- name: rasa_ntm_policy.REDPPolicy`.
"""
__version__ = "0.2.0"


def __getattr__(name):
    # NTMPolicy imports Rasa; keep `import rasa_ntm_policy.ntm` light by importing it on demand
    if name == "NTMPolicy":
        from rasa_ntm_policy.policy import NTMPolicy

        return NTMPolicy
    if name == "REDPPolicy":
        from rasa_ntm_policy.redp.policy import REDPPolicy

        return REDPPolicy
    raise AttributeError(f"module 'rasa_ntm_policy' has no attribute {name!r}")
