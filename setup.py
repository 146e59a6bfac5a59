from setuptools import find_packages, setup

setup(
    name="rasa-ntm-policy",
    version="0.1.0",
    description="A Rasa 3.6 dialogue policy whose memory is a Neural Turing Machine",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["rasa_ntm_policy", "rasa_ntm_policy.*"]),
    python_requires=">=3.8,<3.11",
    install_requires=["rasa==3.6.21"],
    extras_require={"test": ["pytest>=7", "hypothesis>=6", "matplotlib>=3.3"]},
)
