# A stand-in for a worker JVM in the supervisor's tests: a real process that does what the
# supervisor watches a worker for. It takes the lock on its lock file (fcntl, as the JVM does) and
# writes its pid there and into its pid file, then answers ping, stats and shutdown on its control
# socket, one JSON line each way. Its last arguments are the instance's markers, so its command line
# names it as a worker's does.
#
# Arguments: lockfile pidfile socket markers...
# Environment: FAKE_EXIT=<code> exits at once with that code; FAKE_SILENT=1 never opens its socket;
# FAKE_STATS=<json> is its stats answer.
use strict;
use warnings;
use Fcntl;
use IO::Socket::UNIX;

my ($lockfile, $pidfile, $socket) = @ARGV;
exit $ENV{FAKE_EXIT} if defined $ENV{FAKE_EXIT};
open(my $lock, '+>>', $lockfile) or die "open $lockfile: $!";
my $whole = pack('s s x4 q q i x4', F_WRLCK, 0, 0, 0, 0);
fcntl($lock, F_SETLKW, $whole) or die "lock $lockfile: $!";
truncate($lock, 0);
syswrite($lock, "$$\n");
open(my $pid, '>', $pidfile) or die "open $pidfile: $!";
print $pid "$$\n";
close($pid);
if ($ENV{FAKE_SILENT}) {
    sleep 1 while 1;
}
unlink $socket;
my $server = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $socket, Listen => 8) or die "listen $socket: $!";
my $stats = $ENV{FAKE_STATS} // '{}';
while (my $client = $server->accept) {
    my $request = <$client> // '';
    my ($method) = $request =~ /"method"\s*:\s*"([^"]*)"/;
    $method //= '';
    my $reply = $method eq 'ping' ? '{"ok":"pong"}'
        : $method eq 'stats' ? $stats
        : $method eq 'active_queues' ? '[]'
        : '{"ok":"' . $method . '"}';
    print $client "$reply\n";
    close($client);
    if ($method eq 'shutdown') {
        unlink $socket;
        exit 0;
    }
}
