using System.Net;
using System.Net.Sockets;

namespace LibKv.Cluster.Tests.Servers;

/// <summary>Free loopback ports.</summary>
internal static class Ports
{
    /// <summary><paramref name="count"/> distinct free ports (all bound at once, then released).</summary>
    public static int[] Free(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            var ports = new int[count];
            for (var i = 0; i < count; i++)
            {
                var l = new TcpListener(IPAddress.Loopback, 0);
                l.Start();
                listeners.Add(l);
                ports[i] = ((IPEndPoint)l.LocalEndpoint).Port;
            }

            return ports;
        }
        finally
        {
            foreach (var l in listeners)
            {
                l.Stop();
            }
        }
    }
}
