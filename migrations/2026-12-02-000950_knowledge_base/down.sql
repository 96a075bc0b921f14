DROP TABLE kb_passages;
DROP TABLE kb_entries;
