"""The vector store the assistant reads, its backups and the training documents."""
