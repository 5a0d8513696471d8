// The VS Code client: starts `flexc lsp --stdio` (the command and arguments are settings) for .flex files.
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration('flex.server');
  const command = config.get('command', 'flexc');
  const args = config.get('args', ['lsp', '--stdio']);
  const run = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    'flex',
    'Flex language server',
    { run, debug: run },
    {
      documentSelector: [
        { scheme: 'file', language: 'flex' },
        { scheme: 'untitled', language: 'flex' },
      ],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.flex') },
    },
  );
  context.subscriptions.push({ dispose: () => client?.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
