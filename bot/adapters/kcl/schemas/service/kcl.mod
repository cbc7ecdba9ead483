[package]
name = "service"
version = "0.2.2"

[dependencies]
kam = { path = "../kam" }
