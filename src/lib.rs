pub mod kong;
