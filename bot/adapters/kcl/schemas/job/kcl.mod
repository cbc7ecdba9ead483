[package]
name = "job"
version = "0.1.0"

[dependencies]
kam = { path = "../kam" }
