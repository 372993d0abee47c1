mod seal;
