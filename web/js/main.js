// Starts the web client: the connection to the server that served this
// page, the chat session on top of it, and the page on top of that.

import { Connection, defaultUrl } from './connection.js';
import { ChatClient } from './client.js';
import { Ui } from './ui/app.js';

const conn = new Connection(defaultUrl());
const client = new ChatClient(conn);
new Ui(client);
conn.start();
