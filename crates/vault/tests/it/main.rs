mod master;
mod seal;
