[package]
name = "k8s_manifest"
version = "0.1.0"
