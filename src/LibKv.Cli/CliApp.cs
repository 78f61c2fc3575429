using System.CommandLine;
using System.CommandLine.Help;
using LibKv.Cli.Commands;

namespace LibKv.Cli;

/// <summary>Assembles the command tree.</summary>
internal static class CliApp
{
    public static Command Build(CliContext context)
    {
        // A plain command named after the tool (RootCommand would take the assembly's name, LibKv.Cli, for usage lines).
        var root = new Command("libkv", "libkv: one key/value contract over Consul, etcd, ZooKeeper and an in-memory store.")
        {
            new HelpOption(),
            new VersionOption(),
        };
        context.Connection.AddTo(root);
        root.Subcommands.Add(GetCommand.Create(context));
        root.Subcommands.Add(PutCommand.Create(context));
        root.Subcommands.Add(RemoveCommand.Create(context));
        root.Subcommands.Add(ExistsCommand.Create(context));
        root.Subcommands.Add(ListCommand.Create(context));
        root.Subcommands.Add(RemoveTreeCommand.Create(context));
        root.Subcommands.Add(CasCommand.Create(context));
        root.Subcommands.Add(WatchCommand.Create(context));
        root.Subcommands.Add(WatchTreeCommand.Create(context));
        root.Subcommands.Add(LockCommand.Create(context));
        root.Subcommands.Add(DemoCommand.Create(context));
        root.Subcommands.Add(BenchCommand.Create(context));
        return root;
    }
}
