namespace LibKv.Cluster.Tests.Servers;

/// <summary>What a node says it is.</summary>
public enum NodeRole
{
    /// <summary>Down, paused, not serving, or not answering.</summary>
    Unknown,

    /// <summary>Serving, and the leader.</summary>
    Leader,

    /// <summary>Serving, and following a leader.</summary>
    Follower,
}

/// <summary>
/// A 3-node cluster of one backend on free loopback ports, data under one temp folder: start, find the leader, kill -9
/// a node, restart it on its data dir, SIGSTOP/SIGCONT it, restart the whole cluster. Every process is stopped by PID.
/// </summary>
public abstract class ServerCluster : IAsyncDisposable
{
    /// <summary>The number of nodes.</summary>
    public const int Size = 3;

    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(90);
    private readonly ServerProcess?[] _nodes = new ServerProcess?[Size];
    private readonly bool[] _paused = new bool[Size];
    private readonly bool[] _up = new bool[Size];

    protected ServerCluster(string name)
    {
        var parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        Dir = Path.Combine(parent, $"libkv-cluster-{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Cleanup();
    }

    /// <summary>The folder holding every node's config, data and log.</summary>
    public string Dir { get; }

    /// <summary>The LibKv backend name.</summary>
    public abstract string Backend { get; }

    /// <summary>"127.0.0.1:port" of each node's client port, by node index.</summary>
    public abstract IReadOnlyList<string> ClientEndpoints { get; }

    /// <summary>The node ports, for messages and docs: one line per node.</summary>
    public abstract string Describe();

    /// <summary>Starts every node and waits for a leader that serves.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        for (var i = 0; i < Size; i++)
        {
            Up(i);
        }

        await WaitReadyAsync(cancellationToken);
    }

    /// <summary>True while node <paramref name="node"/> runs (paused included).</summary>
    public bool IsRunning(int node) => _nodes[node]?.IsRunning == true;

    /// <summary>Waits until one running node leads and every running, unpaused node serves; returns the leader.</summary>
    public async Task<int> WaitReadyAsync(CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + s_readyTimeout;
        var roles = new NodeRole[Size];
        while (true)
        {
            for (var i = 0; i < Size; i++)
            {
                roles[i] = IsRunning(i) && !_paused[i] ? await SafeRoleAsync(i, cancellationToken) : NodeRole.Unknown;
            }

            var leaders = Enumerable.Range(0, Size).Where(i => roles[i] == NodeRole.Leader).ToList();
            var allServe = Enumerable.Range(0, Size).All(i => !IsRunning(i) || _paused[i] || roles[i] != NodeRole.Unknown);
            if (leaders.Count == 1 && allServe)
            {
                return leaders[0];
            }

            foreach (var i in Enumerable.Range(0, Size).Where(i => _up[i] && !IsRunning(i)))
            {
                throw new InvalidOperationException($"{Backend} node {i} exited by itself:\n{_nodes[i]!.LogTail()}");
            }

            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException(
                    $"{Backend} cluster not ready within {s_readyTimeout.TotalSeconds} s (roles {string.Join(", ", roles)}):\n" +
                    string.Join("\n", Enumerable.Range(0, Size).Select(i => $"--- node {i}:\n{_nodes[i]?.LogTail(1500)}")));
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>The current leader (waits for one).</summary>
    public Task<int> LeaderAsync(CancellationToken cancellationToken) => WaitReadyAsync(cancellationToken);

    /// <summary>A running node other than <paramref name="leader"/>, preferring one other than <paramref name="avoid"/>.</summary>
    public int FollowerOf(int leader, int avoid = -1) =>
        Enumerable.Range(0, Size).Where(i => i != leader && IsRunning(i)).OrderBy(i => i == avoid ? 1 : 0).First();

    /// <summary>kill -9 of node <paramref name="node"/>.</summary>
    public void Kill(int node)
    {
        _paused[node] = false;
        _up[node] = false;
        _nodes[node]?.Kill();
    }

    /// <summary>Starts a killed node again on its ports and data dir and waits until the cluster serves with it.</summary>
    public async Task RestartAsync(int node, CancellationToken cancellationToken)
    {
        Kill(node);
        Up(node);
        await WaitReadyAsync(cancellationToken);
    }

    /// <summary>SIGSTOP of node <paramref name="node"/>.</summary>
    public void Pause(int node)
    {
        _nodes[node]!.Pause();
        _paused[node] = true;
    }

    /// <summary>SIGCONT of a paused node.</summary>
    public void Resume(int node)
    {
        _nodes[node]!.Resume();
        _paused[node] = false;
    }

    /// <summary>kill -9 of every node, then every node started again on its data dir; waits until the cluster serves.</summary>
    public async Task RestartAllAsync(CancellationToken cancellationToken)
    {
        for (var i = 0; i < Size; i++)
        {
            Kill(i);
        }

        for (var i = 0; i < Size; i++)
        {
            Up(i);
        }

        await WaitReadyAsync(cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        Cleanup();
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>Starts node <paramref name="node"/> (its config and data dir are created on first use).</summary>
    protected abstract ServerProcess Launch(int node);

    /// <summary>What node <paramref name="node"/> says it is; throws or answers Unknown when it does not serve.</summary>
    protected abstract Task<NodeRole> RoleAsync(int node, CancellationToken cancellationToken);

    /// <summary>Starts <paramref name="binary"/> for node <paramref name="node"/> with its log in the node's folder.</summary>
    protected ServerProcess StartProcess(int node, string binary, IReadOnlyList<string> arguments, string marker)
    {
        var dir = NodeDir(node);
        Directory.CreateDirectory(dir);
        return ServerProcess.Start(binary, arguments, Path.Combine(dir, "server.log"), marker, dir, Dir);
    }

    /// <summary>Node <paramref name="node"/>'s folder.</summary>
    protected string NodeDir(int node) => Path.Combine(Dir, "n" + (node + 1));

    private void Up(int node)
    {
        _nodes[node] = Launch(node);
        _up[node] = true;
    }

    private async Task<NodeRole> SafeRoleAsync(int node, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            return await RoleAsync(node, cts.Token);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException or OperationCanceledException or System.Text.Json.JsonException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return NodeRole.Unknown;
        }
    }

    private void Cleanup()
    {
        for (var i = 0; i < Size; i++)
        {
            if (_paused[i] && IsRunning(i))
            {
                _nodes[i]!.Resume();
            }

            Kill(i);
        }

        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
