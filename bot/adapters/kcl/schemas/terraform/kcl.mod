[package]
name = "terraform"
version = "0.1.0"
