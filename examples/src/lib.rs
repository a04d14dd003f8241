//! Example chat server and client (coming with the TCP issue).
