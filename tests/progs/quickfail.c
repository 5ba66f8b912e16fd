// Fails at once: the recorder must still have its execve.
int main(void) { return 7; }
