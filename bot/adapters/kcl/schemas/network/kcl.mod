[package]
name = "network"
version = "0.3.1"
